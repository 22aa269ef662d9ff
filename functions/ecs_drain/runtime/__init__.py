"""The clock the drain reads (simulated in the emulation) and the logger, metrics and tracer."""
