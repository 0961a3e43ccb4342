"""sasmamba_cli.training"""
