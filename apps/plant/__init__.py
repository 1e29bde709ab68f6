"""The grid simulator: a plant the control room talks to only through DNP3 and IEEE 2030.5."""
