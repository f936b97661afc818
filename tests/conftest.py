"""Suite-wide settings: no test may reach a model hub, plots render without a screen, and torch's
OpenMP threads wait passively."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# OpenMP threads that spin while waiting starve each other on a shared CPU (a fine-tuning step
# ran 4x slower at load 5 on 2 cores); passive waits change no result. Read when torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
