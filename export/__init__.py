"""Exporters: ONNX (float and quantized), lookup tables and the verified artifact bundle.

Arrives with the export issue; the package exists now so the user's layout is in place.
"""

__all__: list[str] = []
