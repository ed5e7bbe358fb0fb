from pydantic import BaseModel


class UTM(BaseModel):
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    term: str | None = None
    content: str | None = None

    def is_empty(self) -> bool:
        return self.source is None
