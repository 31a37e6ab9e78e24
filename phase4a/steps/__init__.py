"""The five pipeline steps; each module has a pure ``run`` function and a thin ``main(argv)``."""
