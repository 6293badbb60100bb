"""AWS IoT fleet provisioning pre-provisioning hook: only devices staff pre-registered may provision.

Packaged alone (``CodeUri: functions/preprovision/``, handler ``linli_preprovision.handler.lambda_handler``):
it imports the standard library and boto3 only, never chalicelib.
"""
