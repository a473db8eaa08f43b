"""replay: the same decision offline, from a loss record; and the command line."""
import os
import subprocess
import sys
import tempfile

import numpy as np

import keras_autolr

# A synthetic warmup record: flat while the LR is too small, then a descent
# and a blow-up as the LR grows past the edge of stability.
total_steps = 400
rng = np.random.default_rng(0)
t = np.arange(total_steps // 2) / (total_steps // 2)
losses = 2.3 - 1.5 / (1 + np.exp(-(t - 0.4) * 20)) + 4.0 * np.maximum(t - 0.7, 0) ** 2
losses = losses + rng.normal(0, 0.05, size=len(t))

decision = keras_autolr.replay(losses, total_steps=total_steps)
print(f"replay: switch {decision.switch_step} ({decision.reason}), "
      f"peak LR {decision.peak_lr:.4g}")

paper = keras_autolr.replay(losses, total_steps=total_steps, steps_per_epoch=20,
                            options=keras_autolr.PAPER)
print(f"replay with PAPER: switch {paper.switch_step}, peak LR {paper.peak_lr:.4g}")

# The command line reads a text file of one loss per line, a CSVLogger file or a .npy.
path = os.path.join(tempfile.mkdtemp(), "losses.txt")
np.savetxt(path, losses)
subprocess.run([sys.executable, "-m", "keras_autolr", "replay", path,
                "--total-steps", str(total_steps), "--json"], check=True)
