"""Shipped ONNX models and their manifest (data only; see sherpa_rim.runtime)."""
