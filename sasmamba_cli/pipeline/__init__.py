"""sasmamba_cli.pipeline"""
