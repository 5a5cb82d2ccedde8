"""actlab: activation-function studies in JAX, every activation x every seed in one jit."""

from actlab import activations as activations
from actlab import data as data
from actlab import outcome as outcome
from actlab import runner as runner
from actlab import selection as selection
from actlab import stats as stats
from actlab.activations import REGISTRY as REGISTRY
from actlab.activations import Activation as Activation
from actlab.activations import register as register
from actlab.models import CNN as CNN
from actlab.models import MLP as MLP
from actlab.models import Init as Init
from actlab.selection import Selection as Selection
from actlab.study import Result as Result
from actlab.study import Run as Run
from actlab.study import Study as Study
from actlab.train import Config as Config
from actlab.train import Keys as Keys
from actlab.train import Trace as Trace
from actlab.train import TrainState as TrainState
from actlab.train import make_train as make_train
from actlab.train import seed_keys as seed_keys

__version__ = "0.1.0"
