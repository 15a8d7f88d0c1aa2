"""Evaluation of fitted preference models on held-out data: calibration (``calibration``)."""
