"""Run under any KERAS_BACKEND: both GANs take training steps; prints one JSON line of checks."""

import json

import keras
import numpy as np

from enhance.models import build_model
from enhance.models.gan import Pix2PixEnhancer, patch_discriminator
from enhance.synth.gan import SynthGAN
from enhance.synth.models import build_discriminator, build_generator

keras.utils.set_random_seed(0)
report = {"backend": keras.config.backend()}

generator = build_model({"arch": "gan", "arch_params": {"width": 4, "levels": 2}})
discriminator = patch_discriminator(width=4, levels=2)
pix2pix = Pix2PixEnhancer(generator, discriminator, l1_weight=100.0, seed=0)
pix2pix.compile()
rng = np.random.default_rng(3)
clean = rng.random((4, 16, 16, 1), dtype=np.float32)
noisy = clean + 0.1 * rng.standard_normal(clean.shape).astype(np.float32)
g0 = [w.copy() for w in generator.get_weights()]
d0 = [w.copy() for w in discriminator.get_weights()]
seeds = [np.array(pix2pix.seed_generator.state.value)]
l1 = []
for _ in range(12):
    logs = pix2pix.train_on_batch(noisy, clean, return_dict=True)
    seeds.append(np.array(pix2pix.seed_generator.state.value))
    l1.append(float(np.mean(np.abs(np.asarray(keras.ops.convert_to_numpy(generator(noisy))) - clean))))
report["pix2pix_logs"] = sorted(logs)
report["pix2pix_finite"] = bool(all(np.isfinite(float(v)) for v in logs.values()))
report["pix2pix_g_changed"] = any(not np.array_equal(a, b) for a, b in zip(g0, generator.get_weights()))
report["pix2pix_d_changed"] = any(not np.array_equal(a, b) for a, b in zip(d0, discriminator.get_weights()))
report["pix2pix_seed_advances"] = all(not np.array_equal(a, b) for a, b in zip(seeds, seeds[1:]))
report["pix2pix_l1_first_last"] = [l1[0], l1[-1]]
report["pix2pix_iterations"] = [int(pix2pix.g_optimizer.iterations), int(pix2pix.d_optimizer.iterations)]

g = build_generator(16, 2, latent_dim=8, width=4, embed_dim=4, max_width=16)
d = build_discriminator(16, 2, width=4, max_width=16)
synth = SynthGAN(g, d, 8, 2, seed=1)
synth.compile()
before = [[np.array(v) for v in m.trainable_variables] for m in (g, d, synth.ema_generator)]
x = rng.uniform(-1, 1, (4, 16, 16, 1)).astype(np.float32)
y = np.array([[0], [1], [0], [1]], np.int32)
for _ in range(2):
    logs = synth.train_on_batch(x, y, return_dict=True)
report["synth_logs"] = sorted(logs)
report["synth_finite"] = bool(all(np.isfinite(float(v)) for v in logs.values()))
report["synth_changed_fraction"] = [
    float(np.mean([not np.array_equal(o, np.array(v)) for o, v in zip(old, m.trainable_variables)]))
    for m, old in zip((g, d, synth.ema_generator), before)
]
report["synth_iterations"] = [int(synth.g_optimizer.iterations), int(synth.d_optimizer.iterations)]
print(json.dumps(report))
