"""Quantization (Brevitas quantizers, PTQ, QAT) for Q-bit phases and fixed-point precoders.

Arrives with the quantization issue; the package exists now so the user's layout is in place.
"""

__all__: list[str] = []
