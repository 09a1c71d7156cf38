"""GraphQL machinery with no domain knowledge: the request pipeline, its transports, documents and errors."""
