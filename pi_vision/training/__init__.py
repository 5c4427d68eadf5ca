"""Training, conversion and evaluation of the MobileNet v1 SSDLite model zoo.

This is the only package of pi_vision that imports TensorFlow (and only in the modules
that need it), so the runtime on the Pi never pays for it.
"""
