from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

setup(ext_modules=[Pybind11Extension("opendnp3_points._configs", ["src/configs.cpp"], cxx_std=17)])
