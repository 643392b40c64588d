"""mlseam: the platform side of the seam. ML authors import only this module.

```python
import mlseam

class DigitsModel(mlseam.Model):
    task = "image_classification"
    primary_metric = "macro_f1"
    def fit(self, examples: mlseam.Examples) -> None: ...
    def predict(self, inputs: list) -> list: ...
    def evaluate(self, examples: mlseam.Examples) -> dict[str, float]: ...
```
"""

from mlseam import tasks
from mlseam.contract import Metrics, Model
from mlseam.errors import ContractError, InvalidInputError, MlseamError
from mlseam.tasks import Examples
from mlseam.tasks.scores import RowScores

__version__ = "0.1.0"

__all__ = [
    "ContractError",
    "Examples",
    "InvalidInputError",
    "Metrics",
    "MlseamError",
    "Model",
    "RowScores",
    "__version__",
    "tasks",
]
