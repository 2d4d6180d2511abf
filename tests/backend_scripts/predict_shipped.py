"""Run under any KERAS_BACKEND: restore a sample crop with shipped models; save the outputs.

Usage: python predict_shipped.py OUT.npz MODEL_NAME...

Each model gets the crop degraded by its task's validation preset (seed 0); low-light models are
told the preset's exposure.
"""

import sys
from pathlib import Path

import numpy as np

from enhance.tasks import degrade
from enhance.io import read_image
from enhance.modeldir import load_model_dir
from enhance.predict import enhance_image
from enhance.shipped import resolve_model
from enhance.tasks import VALIDATION_DEGRADATION, validation_params

samples = Path(__file__).resolve().parents[2] / "samples"
clean = read_image(samples / "head_ct.png").pixels[100:164, 120:200].astype(np.float32)
outputs = {}
for name in sys.argv[2:]:
    model = load_model_dir(resolve_model(name))
    noisy = degrade(clean, VALIDATION_DEGRADATION[model.task], seed=0).astype(np.float32)
    outputs[name] = enhance_image(model, noisy, exposure=validation_params(model.task).get("exposure"))
np.savez(sys.argv[1], **outputs)
