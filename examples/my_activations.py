"""A plugin: a module that registers activations when it is imported.

    actlab run xor --plugins examples/my_activations.py --acts isru,tanh,relu
    actlab run xor --plugins examples/my_activations.py --acts isru,tanh --processes 2

The workers of ``--processes`` get the same command line, so they import it too. A package
can make it automatic with an entry point (``[project.entry-points."actlab.plugins"]``).
"""

import jax.numpy as jnp

import actlab


def isru(x):
    """The inverse square root unit, x / sqrt(1 + x^2) (Carlile et al. 2017): tanh-like,
    with a polynomial tail; f'(x) = (1 + x^2)^(-3/2), at most 1 (at 0)."""
    return x * jnp.reciprocal(jnp.sqrt(1.0 + x * x))


actlab.register(
    "isru",
    isru,
    out_range=(-1.0, 1.0),
    zero_centred=True,
    monotone=True,
    saturating="both",
    max_grad=1.0,
    overwrite=True,  # importing the module twice (a notebook cell run again) is harmless
    doc="inverse square root unit",
)
