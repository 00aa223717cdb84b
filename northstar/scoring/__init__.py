"""Compare: the scoring engine (engine.py, pure numpy) and its Django side (evaluate.py, models.py).

This module imports nothing, so `northstar.scoring.engine` can be used without Django.
"""
