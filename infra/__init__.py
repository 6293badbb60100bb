"""Packaging the hub for CloudFormation (python -m infra.package); the template is infra/template.yaml."""
