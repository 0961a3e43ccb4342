"""sasmamba_cli.export"""
