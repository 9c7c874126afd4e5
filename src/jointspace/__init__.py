"""jointspace: embed, index, search, evaluate and train joint image-text embedding spaces."""

__version__ = "0.1.0"
