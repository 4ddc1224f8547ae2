"""The engine: the training configuration (``config``: recipe < profile < per-model settings <
overrides, one validated :class:`~lungseg_lib.engine.config.TrainConfig`), the data a config
trains on (``datasets``), the tf.data pipeline, training with checkpoints, evaluation, the
robustness grid, inference, the run-folder contract (``runfolder``: the file names, written
atomically; ``records``: its JSON files as typed records) and one training run as ``lungseg
train`` does it (``runner``). ``runfolder``, ``records``, ``config``, ``datasets`` and ``runner``
never import TensorFlow: the report side reads run folders through them.
"""
