"""Run under any KERAS_BACKEND: restore a sample crop with shipped models; save the outputs.

Usage: python predict_shipped.py OUT.npz MODEL_NAME...
"""

import sys

import numpy as np

from enhance.io import read_image
from enhance.modeldir import load_model_dir
from enhance.predict import enhance_image
from enhance.shipped import resolve_model
from pathlib import Path

samples = Path(__file__).resolve().parents[2] / "samples"
clean = read_image(samples / "head_ct.png").pixels[100:164, 120:200].astype(np.float32)
noisy = np.clip(clean + 0.1 * np.random.default_rng(0).standard_normal(clean.shape), 0, 1)
outputs = {}
for name in sys.argv[2:]:
    model = load_model_dir(resolve_model(name))
    outputs[name] = enhance_image(model, noisy.astype(np.float32))
np.savez(sys.argv[1], **outputs)
