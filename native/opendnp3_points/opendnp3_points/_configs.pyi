class _EventConfig:
    svariation: int
    clazz: int
    evariation: int

class BinaryConfig(_EventConfig):
    def __init__(self, other: BinaryConfig) -> None: ...

class BOStatusConfig(_EventConfig):
    def __init__(self, other: BOStatusConfig) -> None: ...

class AnalogConfig(_EventConfig):
    deadband: float
    def __init__(self, other: AnalogConfig) -> None: ...

class AOStatusConfig(_EventConfig):
    deadband: float
    def __init__(self, other: AOStatusConfig) -> None: ...
