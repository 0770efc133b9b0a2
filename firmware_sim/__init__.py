"""Simulated RF front-end controller, fed only by the exported bundle (numpy only).

Arrives with the controller issue; the package exists now so the user's layout is in place.
"""

__all__: list[str] = []
