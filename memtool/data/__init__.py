"""Data set adapters: memorability sets (LaMem, LNSIM, CSV, the bundled demo)."""
