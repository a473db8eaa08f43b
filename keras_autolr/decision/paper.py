"""`PAPER`: the options that reproduce the paper's rule exactly.

`AutoLR(**keras_autolr.PAPER)` and `replay(..., **keras_autolr.PAPER)` take
the decisions of the authors' reference implementation (arXiv 2107.05855,
kakaobrain/autowu): a test at each epoch end, the GP noise starting from
1e-3, the decay starting from the LR of the smoothed loss minimum itself
(from the LR reached when warmup hits its cap),
no descent guard, no rewind at the switch, no floor at the optimizer's
own LR, and the sweep whatever the budget. The library's defaults depart from it where the quality benchmark
measured better (README, "Quality benchmark"; docs/algorithm.md).

Example:

```python
model.fit(x, y, epochs=10, callbacks=[keras_autolr.AutoLR(**keras_autolr.PAPER)])
decision = keras_autolr.replay(losses, total_steps=1000, steps_per_epoch=100,
                               **keras_autolr.PAPER)
```
"""

import types

PAPER = types.MappingProxyType(dict(
    cap_peak="reached",
    check_every="epoch",
    initial_noise=1e-3,
    peak="minimum",
    own_lr_floor=False,
    peak_factor=1.0,
    require_descent=False,
    rewind=False,
    short_budget="sweep",
))
