# cffi's build hook is only reachable through setup(); everything else is in setup.cfg.
from setuptools import setup

setup(cffi_modules=["crash_ext_c/_build.py:ffibuilder"])
