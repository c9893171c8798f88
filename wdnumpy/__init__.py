"""wdnumpy: Wide & Deep (Cheng et al., DLRS 2016) in NumPy, every gradient by hand."""
import os

# One BLAS thread unless the user chose otherwise: at this model's shapes (batches of 256 to 1,024
# rows, layers of 100 and 50 units) two OpenBLAS threads on a 2-core machine shared with other jobs
# made an Adult epoch 7-12× slower and the matrix products alone 3-8× slower (measured alternating
# both settings in one process; see benchmarks/performance.py). Takes effect only if NumPy is not
# imported yet (the command line, or ``import wdnumpy`` first).
if not any(name in os.environ for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")):
    os.environ["OPENBLAS_NUM_THREADS"] = "1"

from .batch import Batch, EmbeddingField, bags_from_lists  # noqa: E402
from .model import WideDeep  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Batch", "EmbeddingField", "WideDeep", "bags_from_lists", "__version__"]
