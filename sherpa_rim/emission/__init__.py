"""Thermal-plasma (CIE) emission: filled in by the emission issue."""


def table_info():
    raise FileNotFoundError("emission table not built yet")
