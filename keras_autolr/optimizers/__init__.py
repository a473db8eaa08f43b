"""Optimizers for Keras that pair well with `AutoLR`.

- `AdamP`: Adam with projection for scale-invariant weights (Heo et al.,
  ICLR 2021), on Keras 3 and on tf.keras 2.15.
"""

from keras_autolr.optimizers.adamp import AdamP

__all__ = ["AdamP"]
