"""Training code (PyTorch). Never imported by the ``sherpa_rim`` package.

Run from the repository root, e.g. ``python -m training.train_rim --config
training/configs/rim_cpu.json`` or ``sherpa-rim train rim``.
"""
