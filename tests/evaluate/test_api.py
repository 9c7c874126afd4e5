
import jointspace.evaluate
import jointspace.zeroshot


def test_public_names_resolve():
    for mod in (jointspace.evaluate, jointspace.zeroshot):
        for name in mod.__all__:
            assert getattr(mod, name) is not None, name
