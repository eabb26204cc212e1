"""The pure domain core: the job document and its state machine. No I/O in here."""
