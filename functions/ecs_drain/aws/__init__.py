"""Every AWS call the functions make: the clients, the shared call schedule, ECS, EC2, Auto Scaling, CloudFormation,
Step Functions, DynamoDB, and the answer to CloudFormation."""
