"""paylink-fraud: card-fraud scoring from training to a SageMaker endpoint."""
from setuptools import find_packages, setup

setup(
    name="paylink-fraud",
    version="0.1.0",
    description="Reproducible fraud model training, serving and monitoring on Metaflow and SageMaker",
    python_requires=">=3.11",
    packages=find_packages(include=["fraudcore", "fraudcore.*", "cards", "deploy", "deploy.*"]),
    package_data={"fraudcore": ["py.typed"]},
    install_requires=[
        "metaflow>=2.19",
        "numpy>=1.26",
        "pandas>=2.2",
        "pyarrow>=15",
        "scikit-learn>=1.5",
        "lightgbm>=4.5",
        "optuna>=4.0",
        "numba>=0.59",
        "scipy>=1.11",
        "matplotlib>=3.8",
        "boto3>=1.34",
        "starlette>=0.40",
        "uvicorn[standard]>=0.30",
        "orjson>=3.9",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "hypothesis>=6.100",
            "moto[server]>=5.0",
            "cfn-lint>=1.0",
            "httpx>=0.27",
            "shap>=0.46",
        ],
    },
    entry_points={
        "console_scripts": ["fraud=fraudcore.cli:main"],
        # `fraud <name> ...` dispatches to these; each module exposes main(argv) -> int.
        "fraud.commands": [
            "data = fraudcore.data_cli:main",
            "models = fraudcore.registry.cli:main",
            "evaluate = fraudcore.evaluate_cli:main",
            "serve = fraudcore.serving.cli:main",
            "deploy = deploy.cli:main",
            "monitor = fraudcore.monitoring.cli:main",
        ],
    },
)
