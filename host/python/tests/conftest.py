import sys
from pathlib import Path

# The runner helpers beside the tests import as plain modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))
