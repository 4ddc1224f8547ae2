"""The data part: chest X-ray and CT reading (``imageio``, ``ct_io``), data folders and splits
(``folders``), synthetic data (``synthetic``), downloads and conversions (``download``,
``archives``) and CT volumes to slices (``ct``). Imports no model code and no TensorFlow.
"""
