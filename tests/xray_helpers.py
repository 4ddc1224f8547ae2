"""Helpers for the user-image tests: synthetic DICOM files written with pydicom, a synthetic
chest-like picture, and a tiny Keras model saved like a run folder (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def write_dicom(path: Path, pixels: np.ndarray, *, modality: str = "DX", photometric: str = "MONOCHROME2",
                window: tuple[float, float] | None = None, slope: float | None = None,
                intercept: float | None = None, pixel_spacing=None, imager_spacing=None,
                frames: int = 1, bits: int = 12, voi_lut: np.ndarray | None = None) -> Path:
    """Write an uncompressed DICOM of ``pixels`` (uint16, 2-D or frames x H x W); ``voi_lut``:
    a VOI LUT sequence's data (one output per stored value from 0, 12 output bits)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = np.ascontiguousarray(pixels, np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientName = "Test^Synthetic"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits, bits - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept or 0
    if voi_lut is not None:
        item = Dataset()
        item.add_new(0x00283002, "US", [len(voi_lut), 0, 12])  # LUTDescriptor: entries, first value, bits
        item.add_new(0x00283006, "US", [int(v) for v in voi_lut])  # LUTData
        ds.VOILUTSequence = [item]
    if pixel_spacing is not None:
        ds.PixelSpacing = list(pixel_spacing)
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = list(imager_spacing)
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def chest_picture(h: int = 96, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A float image in [0, 1] (bright body, two dark lung fields) and its lung mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    mask = np.zeros((h, w), bool)
    for cx in (0.3 * w, 0.7 * w):
        mask |= ((xx - cx) / (0.14 * w)) ** 2 + ((yy - 0.5 * h) / (0.3 * h)) ** 2 <= 1
    img = np.full((h, w), 0.8) - 0.55 * mask + rng.normal(0, 0.02, (h, w))
    return np.clip(img, 0, 1).astype(np.float32), mask


def tiny_model_dir(folder: Path, size: int = 32, post_k: int = 2) -> Path:
    """A folder laid out like a run (config.json + model.keras) holding an untrained-but-useful
    model: it predicts lung where the image is dark (P = sigmoid(20 (0.5 - x)))."""
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    inp = keras.Input((size, size, 1))
    out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="head")(inp)
    model = keras.Model(inp, out)
    model.get_layer("head").set_weights([np.full((1, 1, 1, 1), -20.0, np.float32), np.array([10.0], np.float32)])
    model.save(folder / "model.keras")
    config = {"config": {"model": "unet3_compact", "profile": "test", "image_size": size, "post_k": post_k,
                         "data": "synthetic", "seed": 0, "epochs": 1},
              "data_root": "synthetic", "environment": {"git_commit": "0123456789abcdef"}}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return folder
