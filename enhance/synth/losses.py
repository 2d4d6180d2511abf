"""Hinge losses of the GAN (Lim & Ye 2017; Miyato et al. 2018), with ``keras.ops`` only."""

from __future__ import annotations

__all__ = ["hinge_d_loss", "hinge_g_loss"]


def hinge_d_loss(real_logits, fake_logits):
    """Discriminator hinge loss ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``."""
    from keras import ops

    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


def hinge_g_loss(fake_logits):
    """Generator hinge loss ``-E[D(G(z))]``."""
    from keras import ops

    return -ops.mean(fake_logits)
