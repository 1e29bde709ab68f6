"""Models of this app arrive with its first feature; the module exists so contracts can name it."""
