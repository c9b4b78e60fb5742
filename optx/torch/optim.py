"""``torch.optim``: PyTorch's optimizers, with ``lr_scheduler`` beside them.

``torch.optim.Adam(model.parameters(), lr=1e-3)`` becomes
``optx.torch.optim.Adam(lr=1e-3)``: an optax transformation, with no
parameter list (``init`` takes the parameters).
"""

from optx.torch import lr_scheduler as lr_scheduler
from optx.torch._adam import Adam as Adam
from optx.torch._adam import AdamState as AdamState
from optx.torch._adam import AdamW as AdamW
from optx.torch._checkpoint import load_state_dict as load_state_dict
from optx.torch._checkpoint_export import scheduler_state_dict as scheduler_state_dict
from optx.torch._checkpoint_export import state_dict as state_dict
from optx.torch._optimizers import SGD as SGD
from optx.torch._optimizers import Adagrad as Adagrad
from optx.torch._optimizers import AdagradState as AdagradState
from optx.torch._optimizers import RMSprop as RMSprop
from optx.torch._optimizers import RMSpropState as RMSpropState
from optx.torch._optimizers import SGDState as SGDState
from optx.torch._variants import Adadelta as Adadelta
from optx.torch._variants import AdadeltaState as AdadeltaState
from optx.torch._variants import Adamax as Adamax
from optx.torch._variants import AdamaxState as AdamaxState
from optx.torch._variants import NAdam as NAdam
from optx.torch._variants import NAdamState as NAdamState

__all__ = ["SGD", "SGDState", "Adagrad", "AdagradState", "RMSprop", "RMSpropState"]
__all__ += ["Adam", "AdamState", "AdamW"]
__all__ += ["Adadelta", "AdadeltaState", "Adamax", "AdamaxState", "NAdam", "NAdamState"]
__all__ += ["load_state_dict", "state_dict", "scheduler_state_dict"]
__all__ += ["lr_scheduler"]
