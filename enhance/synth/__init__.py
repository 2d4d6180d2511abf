"""Synthetic images from a GAN trained on a small folder of medical images, and their evaluation.

Modules (each imported on use; importing this package loads neither NumPy nor Keras):

* :mod:`.data` -- read a folder (subfolders = classes) as square grayscale images;
* :mod:`.recipes` -- offline training sets built from images inside installed packages;
* :mod:`.models`, :mod:`.losses`, :mod:`.diffaug`, :mod:`.gan` -- the hinge-loss DCGAN with
  DiffAugment and class conditioning (``keras``/``keras.ops`` only; the training step is the
  GAN machinery of :class:`enhance.models.gan.GANModel`);
* :mod:`.modeldir` -- save/load a generator directory (sha256-checked);
* :mod:`.training` -- training loop, checkpoints, resume, sample grids;
* :mod:`.generate` -- write generated images with a manifest;
* :mod:`.features` -- the self-supervised feature network used for FD/KID;
* :mod:`.distances`, :mod:`.msssim`, :mod:`.copies`, :mod:`.baselines`, :mod:`.usefulness`
  (four arms over seeds, against :mod:`.classical` augmentation), :mod:`.evaluate` -- the
  evaluation report.
"""
