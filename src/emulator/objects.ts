/**
 * Object and platform-event definitions the emulator knows. The built-in set covers Account
 * (a realistic ~40-field schema with compound addresses), Contact, Opportunity, Lead and Case;
 * the emulator config adds custom objects and platform events.
 */
export type FieldType = 'string' | 'boolean' | 'int' | 'long' | 'double' | 'datetime' | 'date' | 'address' | 'name';

export interface FieldDef {
  name: string;
  type: FieldType;
}

export interface ObjectDef {
  name: string;
  /** 3-character id prefix. */
  keyPrefix: string;
  fields: FieldDef[];
}

export interface PlatformEventDef {
  /** API name ending in __e. */
  name: string;
  fields: FieldDef[];
}

const f = (name: string, type: FieldType = 'string'): FieldDef => ({ name, type });

/** Fields every record has (system fields sent in CDC events). */
const SYSTEM = [f('OwnerId'), f('CreatedDate', 'datetime'), f('CreatedById'), f('LastModifiedDate', 'datetime'), f('LastModifiedById')];

export const BUILTIN_OBJECTS: ObjectDef[] = [
  {
    name: 'Account',
    keyPrefix: '001',
    fields: [
      f('Name'),
      f('Type'),
      f('ParentId'),
      f('BillingAddress', 'address'),
      f('ShippingAddress', 'address'),
      f('Phone'),
      f('Fax'),
      f('AccountNumber'),
      f('Website'),
      f('Sic'),
      f('Industry'),
      f('AnnualRevenue', 'double'),
      f('NumberOfEmployees', 'int'),
      f('Ownership'),
      f('TickerSymbol'),
      f('Description'),
      f('Rating'),
      f('Site'),
      ...SYSTEM,
      f('LastActivityDate', 'date'),
      f('Jigsaw'),
      f('JigsawCompanyId'),
      f('CleanStatus'),
      f('AccountSource'),
      f('DunsNumber'),
      f('Tradestyle'),
      f('NaicsCode'),
      f('NaicsDesc'),
      f('YearStarted'),
      f('SicDesc'),
      f('DandbCompanyId'),
      f('CustomerPriority__c'),
      f('SLA__c'),
      f('Active__c'),
      f('NumberofLocations__c', 'double'),
      f('UpsellOpportunity__c'),
      f('SLASerialNumber__c'),
      f('SLAExpirationDate__c', 'date'),
    ],
  },
  {
    name: 'Contact',
    keyPrefix: '003',
    fields: [
      f('AccountId'),
      f('Name', 'name'),
      f('MailingAddress', 'address'),
      f('Phone'),
      f('MobilePhone'),
      f('Email'),
      f('Title'),
      f('Department'),
      f('Birthdate', 'date'),
      f('LeadSource'),
      f('HasOptedOutOfEmail', 'boolean'),
      ...SYSTEM,
    ],
  },
  {
    name: 'Opportunity',
    keyPrefix: '006',
    fields: [
      f('AccountId'),
      f('Name'),
      f('Description'),
      f('StageName'),
      f('Amount', 'double'),
      f('Probability', 'double'),
      f('CloseDate', 'date'),
      f('Type'),
      f('NextStep'),
      f('LeadSource'),
      f('IsClosed', 'boolean'),
      f('IsWon', 'boolean'),
      f('ForecastCategoryName'),
      ...SYSTEM,
    ],
  },
  {
    name: 'Lead',
    keyPrefix: '00Q',
    fields: [
      f('Name', 'name'),
      f('Company'),
      f('Title'),
      f('Address', 'address'),
      f('Phone'),
      f('Email'),
      f('Status'),
      f('Industry'),
      f('Rating'),
      f('AnnualRevenue', 'double'),
      f('NumberOfEmployees', 'int'),
      f('LeadSource'),
      f('IsConverted', 'boolean'),
      ...SYSTEM,
    ],
  },
  {
    name: 'Case',
    keyPrefix: '500',
    fields: [
      f('CaseNumber'),
      f('ContactId'),
      f('AccountId'),
      f('Subject'),
      f('Description'),
      f('Status'),
      f('Priority'),
      f('Origin'),
      f('Reason'),
      f('Type'),
      f('IsEscalated', 'boolean'),
      f('IsClosed', 'boolean'),
      f('ClosedDate', 'datetime'),
      ...SYSTEM,
    ],
  },
];

export const BUILTIN_PLATFORM_EVENTS: PlatformEventDef[] = [
  {
    name: 'Order_Event__e',
    // OrderNumber__c, Status__c, Shipped__c: the demo's; Order_Number__c, City__c, Amount__c: the
    // fields the official Pub/Sub API examples (forcedotcom/pub-sub-api) publish and read.
    fields: [f('OrderNumber__c'), f('Amount__c', 'double'), f('Status__c'), f('Shipped__c', 'boolean'), f('Order_Number__c'), f('City__c')],
  },
];

/** Sub-fields of compound types, in schema order. */
export const COMPOUND_FIELDS: Record<'address' | 'name', FieldDef[]> = {
  address: [
    f('Street'),
    f('City'),
    f('State'),
    f('PostalCode'),
    f('Country'),
    f('StateCode'),
    f('CountryCode'),
    f('Latitude', 'double'),
    f('Longitude', 'double'),
    f('Xyz'),
    f('GeocodeAccuracy'),
  ],
  name: [f('Salutation'), f('FirstName'), f('LastName')],
};
