"""The AWS edge: the release sequence, SageMaker deployment, autoscaling, alarms, deploy history, IAM and
infrastructure.

`deploy` calls `fraudcore`, never the reverse. Importing it creates no clients and touches no network.
"""
