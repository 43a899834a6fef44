"""Helpers shared by the veRL tests (imported by them; not a test module)."""


def compose_ppo_trainer(overrides):
    """veRL's own `ppo_trainer` config (the one main_ppo loads) with Hydra overrides."""
    from pathlib import Path

    import verl.trainer.main_ppo as main_ppo
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(main_ppo.__file__).parent / "config"), version_base=None):
        return compose(config_name="ppo_trainer", overrides=[o for o in overrides if not o.startswith("hydra.")])


def launcher_overrides(cfg, model: str, run, *, num_problems: int = 512, launch=None):
    from pathlib import Path

    from entropykit.train.verl_launch import VerlLaunch, VerlPaths, build_overrides

    run = Path(run)
    paths = VerlPaths(run=run, train=run / "verl" / "train.parquet", val=None, model=model)
    return build_overrides(cfg, launch or VerlLaunch(), paths, num_problems=num_problems)
