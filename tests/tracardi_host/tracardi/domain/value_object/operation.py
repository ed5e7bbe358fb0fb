from pydantic import BaseModel


class RecordFlag(BaseModel):
    new: bool = False
    update: bool = False

    def needs_update(self) -> bool:
        return self.update is True


class Operation(RecordFlag):
    segment: bool = False
    merge: list[str] = []

    def needs_segmentation(self) -> bool:
        return self.segment is True

    def needs_merging(self) -> bool:
        return isinstance(self.merge, list) and len(self.merge) > 0
