"""What several test modules share: a tiny dataset and a small study on it."""

import optax

import actlab

DATA = actlab.data.teacher_student(n_train=256, n_test=128, dim=6, classes=3, hidden=8)


def small(acts, **kw) -> actlab.Study:
    """A 6-8-6-3 MLP under Adam on ``DATA``: 3 seeds, 20 steps of 16 examples, evaluated at
    steps 0, 7, 14 and 20; ``kw`` replaces any field."""
    args = dict(
        model=actlab.MLP(hidden=(8, 6)),
        activations=acts,
        data=DATA,
        optimizer=optax.adam(1e-2),
        seeds=3,
        batch_size=16,
        steps=20,
        eval_every=7,  # 20 = 7 + 7 + 6: the last interval is partial
    )
    args.update(kw)
    return actlab.Study(**args)
